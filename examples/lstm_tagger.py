"""An LSTM sequence tagger: embedding → LSTM → per-token scores.

It returns two outputs, the tag scores and the final (h, c) state, like many
recurrent models do; gradviz builds the loss on the first output.
"""
import torch
import torch.nn as nn


class LSTMTagger(nn.Module):
    def __init__(self, vocab: int = 50, embed_dim: int = 16, hidden: int = 32, tags: int = 5):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
        self.tagger = nn.Linear(hidden, tags)

    def forward(self, tokens):
        features, state = self.lstm(self.embed(tokens))
        return self.tagger(features), state


def example_inputs():
    return torch.randint(0, 50, (2, 12))
