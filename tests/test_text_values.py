"""Numbers typed as text (numbers mode's x and target, ``gradviz explain --input``)."""
import pytest

from gradviz.core.text_values import parse_float_list


@pytest.mark.parametrize("text, count, numbers", [
    ("2, 0", 2, (2.0, 0.0)), ("(0.5 −1)", 2, (0.5, -1.0)), ("1.5,2.5", 2, (1.5, 2.5)), ("[3]", 1, (3.0,)),
])
def test_numbers_are_read_as_typed(text, count, numbers):
    assert parse_float_list(text, "input x", count) == numbers


@pytest.mark.parametrize("text, count, word, says", [
    ("0,5", 2, "0,5", "write 0.5 for one, 0, 5 for two"), ("0,5", 1, "0,5", "could be one number or two"),
    ("(-0,25 1)", 2, "-0,25", "write -0.25 for one"), ("1,2,3", 3, "1,2,3", "several ways"),
])
def test_a_comma_between_digits_is_refused_saying_both_readings(text, count, word, says):
    """"0,5" is a half to anyone who writes decimal commas, two numbers to the parser: it
    was read as (0, 5) where two numbers were wanted, without a word."""
    with pytest.raises(ValueError) as caught:
        parse_float_list(text, "input x", count)
    assert repr(word) in str(caught.value) and says in str(caught.value)
