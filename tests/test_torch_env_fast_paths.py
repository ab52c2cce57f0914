"""The TorchRL env's shortcuts: the packed step table, the skipped finished-row check, the deck's refills, the
spare-row reset of step_and_maybe_reset (see parity_env/torch_env.py) and the prompt bits, parities and ids computed
from hash words (parity_env/torch_prompts.py)."""

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from torchrl.envs import EnvBase

from parity_env import ParityCoTTorchEnv
from parity_env.parity import prompt_supply
from parity_env.parity.step_table import CODE, FLAG_NAMES, PARITY, RESP_LEN, step_table, transition_tables
from parity_env.parity.torch_env import _block


@pytest.mark.parametrize("reward", ["answer", "cot"])
def test_step_table_packs_the_transition_tables(reward):
    """Every column of the packed table reads back, through the env's views, as the unpacked tables."""
    tables, packed = transition_tables(6, 2, 5, reward), torch.from_numpy(step_table(6, 2, 5, reward))
    block = _block(packed)
    assert np.array_equal(packed.view(torch.int32)[:, 2 * CODE].numpy(), tables["next"])
    assert np.array_equal(packed.view(torch.float32)[:, 2 * CODE + 1].numpy(), tables["reward"][:, 0])
    assert np.array_equal(block.resp_len.numpy(), tables["length"]) and torch.equal(block.resp_len, packed[:, RESP_LEN])
    assert np.array_equal(block.parity.numpy(), tables["parity"]) and torch.equal(block.parity, packed[:, PARITY])
    n_flags = len(FLAG_NAMES)
    assert np.array_equal(block.flags[:, :n_flags].numpy(), tables["flags"]) and not block.flags[:, n_flags:].any()


def test_finished_rows_are_caught_after_a_partial_reset():
    """The finished-row check is skipped only when no row can be finished; a row left finished is still caught."""
    env = ParityCoTTorchEnv(d=4, batch_size=[4], seed=0)
    td = env.reset()
    td["action"] = torch.tensor([2, 2, 0, 0])
    td = env.step(td)["next"]
    td["_reset"] = torch.tensor([[True], [False], [False], [False]])
    td = env.reset(td)
    td["action"] = torch.tensor([0, 0, 0, 0])
    with pytest.raises(RuntimeError, match=r"finished rows \[1\]"):
        env.step_and_maybe_reset(td)
    td = env.reset()
    for _ in range(40):  # the fused path resets every finished row, so no false alarm
        td["action"] = torch.tensor([2, 1, 0, 2])
        _, td = env.step_and_maybe_reset(td)


@pytest.mark.parametrize("batch", [1, 300])
def test_fused_path_matches_generic_path_with_many_resets(monkeypatch, batch):
    """The spare-row reset (built in the step's copy, then one gather) equals step + step_mdp + maybe_reset, over
    enough steps to refill a small deck many times (every row finishes every other step or so)."""
    monkeypatch.setattr(prompt_supply, "DECK_ROWS", 16)  # K = 16 prompts per row at batch 1, 2 at batch 300
    fast, slow = (ParityCoTTorchEnv(d=5, batch_size=[batch], seed=1) for _ in range(2))
    td_f, td_s = fast.reset(), slow.reset()
    gen = torch.Generator().manual_seed(1)
    for _ in range(150):
        action = torch.where(torch.rand(batch, generator=gen) < 0.5, 2, torch.randint(0, 2, (batch,), generator=gen))
        td_f["action"], td_s["action"] = action, action.clone()
        out_f, td_f = fast.step_and_maybe_reset(td_f)
        out_s, td_s = EnvBase._step_and_maybe_reset(slow, td_s)
        for key in out_f.keys(True, True):
            assert torch.equal(out_f[key], out_s[key]), key
        for key in td_s.keys(True, True):
            assert key == "action" or torch.equal(td_f[key], td_s[key]), key
    assert fast._prompts.deck.episode >= 4 * len(fast._prompts.deck_episodes)  # the deck was refilled 4 times or more


def test_outputs_are_fresh_views():
    """Entries handed out are never written by later steps (the rollout test checks this over a whole rollout)."""
    env = ParityCoTTorchEnv(d=3, batch_size=[2], seed=0)
    td = env.reset()
    td["action"] = torch.tensor([2, 1])
    data, td = env.step_and_maybe_reset(td)
    before = data.clone()
    for _ in range(10):
        td["action"] = torch.tensor([2, 2])
        _, td = env.step_and_maybe_reset(td)
    assert (data == before).all()
    assert isinstance(data, TensorDict) and data["next", "reward"].dtype == torch.float32


@pytest.mark.parametrize("d", [2, 7, 24, 32, 33, 62, 64, 65, 100])
def test_prompt_bits_parity_and_id_from_hash_words(d):
    """Bit j of a prompt is bit j % 32 of hash word j // 32; the parity and the id computed from the masked words
    equal those of the unpacked bits (protocol.prompt_ids; exact ids up to d = 62)."""
    from parity_env.parity.protocol import prompt_ids
    from parity_env.parity.torch_prompts import id_from_words, parity_from_words, unpack_prompt_bits, word_masks

    words = torch.randint(-(2**63), 2**63 - 1, (300, -(-d // 32)), generator=torch.Generator().manual_seed(d))
    expected = torch.stack([(words[:, j // 32] >> (j % 32)) & 1 for j in range(d)], dim=1)  # (300, d)
    bits = unpack_prompt_bits(words, d)
    assert bits.dtype == torch.uint8 and torch.equal(bits.long(), expected)
    masked = words & word_masks(d)
    assert torch.equal(parity_from_words(masked), expected.sum(dim=1) % 2)
    if d <= 62:
        assert np.array_equal(id_from_words(masked, d).numpy(), prompt_ids(expected.numpy()))
    else:
        with pytest.raises(ValueError, match="d <= 62"):
            id_from_words(masked, d)
