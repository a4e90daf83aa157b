"""Data sources: random tensors (the tutorial's), scikit-learn's digits, a folder of images."""
import numpy as np
import pytest
import torch

from gradviz.core.data import CLASSES, VALUES, DataError, DigitsData, FolderData, RandomData, make_data

LENET_IN, LENET_OUT = (1, 1, 32, 32), (1, 10)


# -- random ------------------------------------------------------------------------


def test_random_fixed_gives_the_same_batch_every_time():
    source = RandomData(seed=3)
    x1, t1 = source.batch(LENET_IN, LENET_OUT, VALUES)
    x2, t2 = source.batch(LENET_IN, LENET_OUT, VALUES)
    assert x1.shape == LENET_IN and t1.shape == LENET_OUT  # the tutorial's input and target shapes
    assert torch.equal(x1, x2) and torch.equal(t1, t2)
    x1.add_(1)  # callers may modify what they get without changing the next batch
    assert torch.equal(source.batch(LENET_IN, LENET_OUT, VALUES)[0], x2)


def test_random_not_fixed_draws_new_batches_reproducibly():
    a, b = RandomData(seed=5, fixed=False), RandomData(seed=5, fixed=False)
    first, second = a.batch(LENET_IN, LENET_OUT, VALUES), a.batch(LENET_IN, LENET_OUT, VALUES)
    assert not torch.equal(first[0], second[0])
    assert torch.equal(b.batch(LENET_IN, LENET_OUT, VALUES)[0], first[0])
    assert not torch.equal(RandomData(seed=6).batch(LENET_IN, LENET_OUT, VALUES)[0], first[0])


def test_random_class_targets_and_batch_size():
    source = RandomData(seed=0, batch_size=64)
    x, t = source.batch(LENET_IN, LENET_OUT, CLASSES)
    assert x.shape == (64, 1, 32, 32)
    assert t.shape == (64,) and t.dtype == torch.long
    assert t.min() >= 0 and t.max() <= 9 and len(t.unique()) > 1
    with pytest.raises(DataError, match=r"class targets need an output of shape \(N, classes\)"):
        source.batch((4, 3), (4,), CLASSES)


def test_bad_batch_size_and_target_kind():
    with pytest.raises(DataError, match="batch_size"):
        RandomData(batch_size=0)
    with pytest.raises(DataError, match="unknown target kind 'labels'"):
        RandomData().batch(LENET_IN, LENET_OUT, "labels")


# -- digits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sklearn_digits():
    from sklearn.datasets import load_digits

    return load_digits()


def test_digits_fit_lenet_input_with_labels(sklearn_digits):
    x, labels = DigitsData(batch_size=16, seed=1).batch(LENET_IN, LENET_OUT, CLASSES)
    assert x.shape == (16, 1, 32, 32) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    assert labels.shape == (16,) and labels.dtype == torch.long
    assert set(labels.tolist()) <= set(range(10))


def test_digits_flattened_for_an_mlp_are_the_real_pixels(sklearn_digits):
    x, labels = DigitsData(batch_size=5, shuffle=False).batch((1, 64), (1, 10), CLASSES)
    assert x.shape == (5, 64)
    expected = torch.as_tensor(sklearn_digits.data[:5], dtype=torch.float32) / 16.0
    assert torch.allclose(x, expected)
    assert labels.tolist() == sklearn_digits.target[:5].tolist()


def test_digits_resized_keep_the_picture(sklearn_digits):
    # Bilinear resizing 8x8 -> 32x32 and averaging back must give the digit again.
    x, _ = DigitsData(batch_size=3, shuffle=False).batch(LENET_IN, LENET_OUT, CLASSES)
    back = torch.nn.functional.avg_pool2d(x, 4).reshape(3, 64)
    original = torch.as_tensor(sklearn_digits.data[:3], dtype=torch.float32) / 16.0
    assert torch.corrcoef(torch.stack([back.flatten(), original.flatten()]))[0, 1] > 0.9


def test_digits_one_hot_targets_for_mse_match_the_labels():
    _, labels = DigitsData(batch_size=32, seed=2).batch(LENET_IN, LENET_OUT, CLASSES)
    _, one_hot = DigitsData(batch_size=32, seed=2).batch(LENET_IN, LENET_OUT, VALUES)
    assert one_hot.shape == (32, 10) and one_hot.dtype == torch.float32
    assert torch.equal(one_hot.sum(dim=1), torch.ones(32))
    assert torch.equal(one_hot.argmax(dim=1), labels)


def test_digits_repeat_grey_for_colour_models():
    x, _ = DigitsData(batch_size=2).batch((1, 3, 32, 32), (1, 10), CLASSES)
    assert x.shape == (2, 3, 32, 32)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])


def test_digits_batches_walk_through_epochs_without_repeats(sklearn_digits):
    source = DigitsData(batch_size=599, seed=0)  # 3 batches = 1797 = one epoch
    labels = torch.cat([source.batch((1, 64), (1, 10), CLASSES)[1] for _ in range(3)])
    assert torch.bincount(labels, minlength=10).tolist() == np.bincount(sklearn_digits.target).tolist()
    assert not torch.equal(labels[:20], torch.as_tensor(sklearn_digits.target[:20]))  # shuffled
    assert len(source) == 1797


def test_digits_need_ten_outputs():
    with pytest.raises(DataError, match=r"10 classes, but the model's output is \(4, 1\).*10 values per sample"):
        DigitsData().batch((4, 64), (4, 1), CLASSES)
    with pytest.raises(DataError, match="10 classes"):
        DigitsData().batch((4, 64), (4, 1), VALUES)


def test_digits_need_an_image_or_square_input():
    with pytest.raises(DataError, match="2 input features, which is not a square number"):
        DigitsData().batch((4, 2), (4, 10), CLASSES)
    with pytest.raises(DataError, match=r"neither an image \(C, H, W\)"):
        DigitsData().batch((4, 1, 32), (4, 10), CLASSES)


# -- folder ------------------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    root = tmp_path / "shapes"
    colours = {"circles": (250, 250, 250), "squares": (10, 10, 10)}  # bright vs dark: labels are checkable
    for name, colour in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(3):
            size = (10 + i, 12)  # different sizes: the source must resize each
            Image.new("RGB", size, colour).save(root / name / f"{i}.png")
    Image.new("L", (9, 9), 255).save(root / "circles" / "extra.jpg")
    return root


def test_folder_classes_and_grey_batches(image_folder):
    source = FolderData(image_folder, batch_size=7, shuffle=False)
    assert source.classes == ["circles", "squares"]
    assert len(source) == 7
    x, labels = source.batch(LENET_IN, (1, 2), CLASSES)
    assert x.shape == (7, 1, 32, 32)
    bright = x.mean(dim=(1, 2, 3)) > 0.5
    assert torch.equal(bright, labels == 0)


def test_folder_colour_batches_and_one_hot(image_folder):
    x, one_hot = FolderData(image_folder, batch_size=4).batch((1, 3, 16, 16), (1, 2), VALUES)
    assert x.shape == (4, 3, 16, 16)
    assert one_hot.shape == (4, 2) and torch.equal(one_hot.sum(1), torch.ones(4))


def test_folder_output_must_fit_the_classes(image_folder):
    with pytest.raises(DataError, match=r"2 classes, but the model's output is \(1, 10\)"):
        FolderData(image_folder).batch(LENET_IN, LENET_OUT, CLASSES)


def test_folder_errors_name_the_problem(tmp_path, image_folder):
    with pytest.raises(DataError, match=r"image folder .*nowhere does not exist"):
        FolderData(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no class subfolders"):
        FolderData(tmp_path / "empty")
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "a" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="contains no images"):
        FolderData(tmp_path / "noimg")
    (image_folder / "triangles").mkdir()
    with pytest.raises(DataError, match="class folder.* triangles contain no images"):
        FolderData(image_folder)


def test_folder_unreadable_file_is_named(image_folder):
    broken = image_folder / "squares" / "broken.png"
    broken.write_bytes(b"this is not a png")
    source = FolderData(image_folder)
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png"):
        source.batch(LENET_IN, (1, 2), CLASSES)


def test_make_data_factory(image_folder):
    assert isinstance(make_data("random", seed=1), RandomData)
    assert isinstance(make_data("digits", batch_size=8), DigitsData)
    assert make_data("folder", path=image_folder).classes == ["circles", "squares"]
    with pytest.raises(DataError, match="unknown data source 'mnist'; use one of: random, digits, folder"):
        make_data("mnist")
    with pytest.raises(DataError, match="needs path="):
        make_data("folder")
    with pytest.raises(DataError, match="data source 'random'"):
        make_data("random", colour=True)


def test_the_fixed_batch_is_a_fresh_copy_each_time():
    """Models change their input in place (``nn.ReLU(inplace=True)`` on the input, as the
    examples do): that must not change the batch the next step gets."""
    from gradviz.core.data import make_data

    source = make_data("random")
    for _ in range(2):  # the first batch is made, later ones come from the cache
        inputs, targets = source.batch((4, 3), (4, 2), VALUES)
        expected_inputs, expected_targets = inputs.clone(), targets.clone()
        inputs.relu_()
        targets.zero_()
        again_inputs, again_targets = source.batch((4, 3), (4, 2), VALUES)
        assert torch.equal(again_inputs, expected_inputs)
        assert torch.equal(again_targets, expected_targets)
