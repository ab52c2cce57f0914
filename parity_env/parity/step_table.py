"""The ParityCoT token protocol as a lookup table: ``ParityCoTTorchEnv`` steps all its rows with one row gather.

A row's state packs everything the protocol needs to judge a response token by token: n (tokens emitted), whether
the last bit emitted equals the parity (none yet / right / wrong), whether the chain of thought is still exact, the
parity, and the status (running, terminated right, terminated wrong, truncated). Entry 8 * state + 4 * hit + action
of the table (action 0, 1, EOS, or NOOP for a row a partial step leaves alone; hit: the action is the next chain
bit, used by reward "cot" only) holds the row's next state and every value the env outputs after that step, in
``N_COLUMNS`` int64 columns (32 bytes: the env gathers one per row and step), so that every output entry but the
tokens and the prompt id is a view of the gathered (B, N_COLUMNS) block:

    CODE       int32 8 * next state in bytes 0..3 (the next step adds the action to it), float32 reward in 4..7
    RESP_LEN   tokens emitted after the step
    PARITY     the prompt's parity
    FLAGS      one bool per byte: done, terminated, truncated, correct, is_long, illegal (``FLAG_NAMES``; illegal:
               the step of a row that had finished)

Entry ``initial_code(parity) + NOOP`` is the block of a row at the start of an episode.

Built from the rules of ``protocol.is_correct`` and checked against the reference env step by step (tests).
Print the table of a small task with ``python -m parity_env.parity.step_table``.
"""

from __future__ import annotations

import numpy as np

from .protocol import EOS, chain_length

LAST_NONE, LAST_RIGHT, LAST_WRONG = 0, 1, 2  # the last bit emitted: none yet / equals the parity / does not
RUNNING, TERM_RIGHT, TERM_WRONG, TRUNCATED = 0, 1, 2, 3  # status
NOOP = 3  # the action index of rows that TorchRL's "_step" mask leaves alone
CODE, RESP_LEN, PARITY, FLAGS = range(4)  # columns of the step table
N_COLUMNS = 4
FLAG_NAMES = ("done", "terminated", "truncated", "is_correct", "is_long", "illegal")
DONE, TERMINATED, TRUNCATED_FLAG, CORRECT, IS_LONG, ILLEGAL = range(6)  # columns of transition_tables' flags


def state_index(n, last, ok, parity, status):
    """The state number of (n tokens emitted, last, chain ok, parity, status); works on ints and arrays."""
    return (((n * 3 + last) * 2 + ok) * 2 + parity) * 4 + status


def initial_code(parity: int) -> int:
    """The code (8 * state) of a row at the start of an episode whose prompt has parity ``parity``."""
    return state_index(0, LAST_NONE, 1, parity, RUNNING) * 8


def transition_tables(d: int, leap: int, max_response_len: int, reward: str) -> dict[str, np.ndarray]:
    """Tables indexed by i = 8 * state + 4 * hit + action.

    ``next`` (8 * next state), ``length`` (tokens emitted after the step), ``parity``, ``flags`` (bool (T, 6),
    ``FLAG_NAMES``) and ``reward`` (float32 (T, 1)).
    """
    R, m = max_response_len, chain_length(d, leap)
    n, last, ok, par, status, hit, act = np.meshgrid(
        np.arange(R + 1), np.arange(3), np.arange(2), np.arange(2), np.arange(4), np.arange(2), np.arange(4),
        indexing="ij",
    )
    # raveled in "ij" order, entry i is exactly state_index(...) * 8 + hit * 4 + act
    n, last, ok, par, status, hit, act = (x.ravel() for x in (n, last, ok, par, status, hit, act))
    running, is_bit, is_eos, noop = status == RUNNING, act < EOS, act == EOS, act == NOOP
    # a bit: one more token; the last bit is compared with the parity; the chain stays right only on a hit
    last_bit = np.where(act == par, LAST_RIGHT, LAST_WRONG)
    status_bit = np.where(n + 1 >= R, TRUNCATED, RUNNING)
    # EOS: the verdict of the reward mode on the bits emitted so far
    if reward == "answer":
        right = last == LAST_RIGHT
    else:
        right = ((n == 1) & (last == LAST_RIGHT)) | ((n == m) & (ok == 1))
    status_eos = np.where(right, TERM_RIGHT, TERM_WRONG)
    step = running & ~noop & (n < R)
    new_n = np.where(step, n + 1, n)  # step implies n < R
    new_last = np.where(step & is_bit, last_bit, last)
    new_ok = np.where(step & is_bit, ok & hit, ok)
    new_status = np.where(step, np.where(is_bit, status_bit, status_eos), status)
    nxt = state_index(new_n, new_last, new_ok, par, new_status) * 8
    term = (new_status == TERM_RIGHT) | (new_status == TERM_WRONG)
    trunc = new_status == TRUNCATED
    n_bits = new_n - term  # EOS is not a bit
    flags = np.stack(
        [term | trunc, term, trunc, new_status == TERM_RIGHT, n_bits > 1, ~noop & ~step], axis=1
    )  # (T, 6)
    rewards = (step & is_eos & right).astype(np.float32)[:, None]  # (T, 1)
    return {"next": nxt.astype(np.int64), "length": new_n, "parity": par, "flags": flags, "reward": rewards}


def step_table(d: int, leap: int, max_response_len: int, reward: str) -> np.ndarray:
    """``transition_tables`` packed into one (T, N_COLUMNS) int64 table (columns above).

    The reward and the flags are written through byte views of their columns, so that the env reads them back
    through the same views whatever the machine's byte order.
    """
    t = transition_tables(d, leap, max_response_len, reward)
    table = np.zeros((len(t["next"]), N_COLUMNS), dtype=np.int64)
    table[:, RESP_LEN], table[:, PARITY] = t["length"], t["parity"]
    code_reward = table.view(np.int32).reshape(len(table), N_COLUMNS, 2)[:, CODE]  # (T, 2) int32 view
    code_reward[:, 0] = t["next"]  # < 2^31: 384 (max_response_len + 1) entries
    code_reward[:, 1:].view(np.float32)[:] = t["reward"]  # bytes 4..7: the float32 reward
    table.view(np.uint8).reshape(len(table), N_COLUMNS, 8)[:, FLAGS, : len(FLAG_NAMES)] = t["flags"]  # byte k: flag k
    return table


if __name__ == "__main__":
    d, leap, R = 2, 1, 3
    t = transition_tables(d, leap, R, "answer")
    print(f"d = {d}, max_response_len = {R}: {len(t['next'])} entries; the steps of a running row from the start:")
    for p in (0, 1):
        for a, name in enumerate(("0", "1", "EOS")):
            i = initial_code(p) + a
            flags = [f for f, on in zip(FLAG_NAMES, t["flags"][i]) if on]
            print(f"  parity {p}, emit {name:3s} -> length {t['length'][i]}, reward {t['reward'][i, 0]:.0f}, {flags}")
