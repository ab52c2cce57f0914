"""Agents a user might write, for the tests: importable as ``user_agents:NAME`` (pytest puts tests/ on sys.path)."""

import torch


class GRUAgent(torch.nn.Module):
    """A GRU with the optional incremental-decoding interface (its hidden state)."""

    def __init__(self, task, hidden: int = 16):
        super().__init__()
        self.embed = torch.nn.Embedding(task.vocab_size, hidden)
        self.gru = torch.nn.GRU(hidden, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, task.n_actions)

    def forward(self, tokens):  # (B, T) -> (B, T, A)
        return self.head(self.gru(self.embed(tokens))[0])

    def new_state(self, batch_size):
        return None  # the GRU starts from zeros

    def decode(self, tokens, state):
        out, h = self.gru(self.embed(tokens), state)
        return self.head(out[:, -1]), h

    def select_state(self, state, rows):
        return state[:, rows]


def make_gru(task, hidden: int = 16):
    return GRUAgent(task, hidden)


def make_int_logits(task):
    class IntLogits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, tokens):
            return torch.zeros(*tokens.shape, task.n_actions, dtype=torch.long)

    return IntLogits()


def make_wrong_shape(task):
    return torch.nn.Linear(task.seq_len, task.n_actions)  # forward((B, T) int64) fails


def make_half_interface(task):
    agent = GRUAgent(task)
    agent.select_state = None  # new_state and decode, but no select_state
    return agent


def make_not_a_module(task):
    return "not an agent"
