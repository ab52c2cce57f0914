"""The ``gpt`` agent: a small GPT-style causal transformer with a key/value cache for incremental decoding.

The input vocabulary is the task's tokens (``task.vocab_size``); the output head scores only the tokens an agent can
emit (``task.n_actions``), so the logits are the policy's action logits. Positions are learned or rotary.

    model = make_gpt(task)                           # the pre-training recipe's size; or agents.make_agent("gpt", task)
    model = make_gpt(task, preset="mistral-2x128")   # the paper's sizes: PRESETS (--agent-config '{"preset": ...}')
    logits = model(tokens)                           # (B, T, A), one causal pass
    logits = model(tokens, logits_from=d)            # (B, T - d, A): the prompt positions give keys and values only
    state = model.new_state(B)                       # the agent contract's incremental decoding (agents.models.agent)
    logits, state = model.decode(prompt, state)      # prefill: (B, A) for the next token
    logits, state = model.decode(token[:, None], state)   # one step, O(T) instead of O(T^2)

Run ``python -m agents.models.gpt`` to check the cache against full recomputation on random tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from math import inf

import torch
import torch.nn as nn
import torch.nn.functional as F

from .agent import as_long_tokens, check_logits_from


@dataclass
class GPTConfig:
    """The transformer's shape. The defaults are the pre-training recipe's, chosen at d = 24, p_long = 0.01."""

    block_size: int
    """Longest context the model reads: the task's seq_len = d + 1 + max_response_len."""
    vocab_size: int
    """Input tokens: the task's vocab_size."""
    n_actions: int
    """Output logits: the task's n_actions, the only tokens an agent emits."""
    n_layer: int = 1
    """One block suffices (attend to x_{i+1}, xor it with the current token) and escapes the initial plateau sooner
    than two at d = 24, p_long = 0.01 (measured: 2 blocks still at chance after 1100 steps, 1 block learned by ~500)."""
    n_head: int = 4
    """8 heads learned chain bits 3..d sooner in one run but not the sampled check (bit 2) by 1700 steps; 4 passed."""
    d_model: int = 64
    positional: str = "learned"
    """"learned" (absolute embeddings, GPT-2) or "rotary" (RoPE on queries and keys, Mistral-style). Learned: rotary
    ones plateaued at half-learned chains in our runs at d = 24."""
    dropout: float = 0.0
    """Data are fresh every batch, so there is nothing to overfit: no dropout by default."""
    init_std: float = 0.1
    """Standard deviation of the initial weights (residual projections get init_std / sqrt(2 n_layer)). 5x GPT-2's
    0.02: the chain is an xor behind an attention pattern, a saddle whose escape time grows as the weights shrink; at
    0.02 nothing was learned in 2000 steps, at 0.1 the chain loss drops after ~300 steps."""

    def __post_init__(self) -> None:
        for name in ("block_size", "vocab_size", "n_actions", "n_layer", "n_head", "d_model"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer; got {value!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"GPTConfig.d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if self.positional not in ("learned", "rotary"):
            raise ValueError(f"GPTConfig.positional must be 'learned' or 'rotary'; got {self.positional!r}")
        if self.positional == "rotary" and (self.d_model // self.n_head) % 2:
            raise ValueError(f"rotary positions need an even head size; got {self.d_model // self.n_head}")
        if not _is_number(self.init_std) or not 0 < self.init_std < inf:
            raise ValueError(f"GPTConfig.init_std must be a number > 0; got {self.init_std!r}")
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1); got {self.dropout}")

    def to_dict(self) -> dict:
        """The config as a plain dict (``dataclasses.asdict``)."""
        return asdict(self)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class KVCache:
    """Preallocated keys and values for every layer; all rows share one write position ``pos``."""

    def __init__(self, cfg: GPTConfig, batch_size: int, device: torch.device | str, dtype: torch.dtype):
        hs = cfg.d_model // cfg.n_head
        shape = (cfg.n_layer, batch_size, cfg.n_head, cfg.block_size, hs)  # (layers, B, nh, T_max, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0

    def reset(self) -> None:
        """Rewind the write position to 0, so that the cache is reused for a new batch of sequences."""
        self.pos = 0


def _rotary_tables(block_size: int, head_size: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / base ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)  # (hs/2,)
    angles = torch.outer(torch.arange(block_size, dtype=torch.float32), inv_freq)  # (T_max, hs/2)
    return angles.cos(), angles.sin()


def _apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (B, nh, T, hs); cos, sin: (T, hs/2)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (B, nh, T, hs/2, 2)
    return out.flatten(-2).type_as(x)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, reading and writing the key/value cache when one is given."""
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.hs = cfg.n_head, cfg.d_model // cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(self, x, layer: int, cache: KVCache | None, rotary: tuple[torch.Tensor, torch.Tensor] | None,
                q_from: int = 0):
        """Attention output (B, T - q_from, C) for the queries at positions q_from.. of ``x`` (B, T, C).

        Every position still contributes its key and value; positions before ``q_from`` get no query (no output).
        """
        B, T, C = x.shape
        Tq = T - q_from
        if q_from:  # keys and values for all positions, queries only where an output is wanted
            w, b = self.qkv.weight, self.qkv.bias
            q = F.linear(x[:, q_from:], w[:C], b[:C])  # (B, Tq, C)
            k, v = F.linear(x, w[C:], b[C:]).split(C, dim=2)  # 2 x (B, T, C)
        else:
            q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, Tq, self.n_head, self.hs).transpose(1, 2)  # (B, nh, Tq, hs)
        k, v = (t.view(B, T, self.n_head, self.hs).transpose(1, 2) for t in (k, v))  # (B, nh, T, hs)
        pos = cache.pos if cache is not None else 0
        if rotary is not None:
            cos, sin = rotary[0][pos : pos + T], rotary[1][pos : pos + T]
            q, k = _apply_rotary(q, cos[q_from:], sin[q_from:]), _apply_rotary(k, cos, sin)
        if cache is not None:
            cache.k[layer, :, :, pos : pos + T] = k
            cache.v[layer, :, :, pos : pos + T] = v
            k, v = cache.k[layer, :, :, : pos + T], cache.v[layer, :, :, : pos + T]  # (B, nh, pos+T, hs)
        drop = self.dropout if self.training else 0.0
        first = pos + q_from  # absolute position of the first query; query i sees keys 0 .. first + i
        if first == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        elif Tq == 1:  # the last position attends to everything before it
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            mask = torch.ones(Tq, pos + T, dtype=torch.bool, device=x.device).tril(diagonal=first)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).reshape(B, Tq, C)  # (B, Tq, C)
        return self.proj(y)


class Block(nn.Module):
    """A pre-LayerNorm transformer block: attention, then an MLP, each in a residual branch."""
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(), nn.Linear(4 * cfg.d_model, cfg.d_model)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, layer, cache, rotary, q_from: int = 0):
        """(B, T - q_from, C): the block's output at positions q_from.. of ``x`` (B, T, C)."""
        x = x[:, q_from:] + self.drop(self.attn(self.ln1(x), layer, cache, rotary, q_from))
        return x + self.drop(self.mlp(self.ln2(x)))


class GPT(nn.Module):
    """The ``gpt`` agent: a decoder-only transformer over the task's tokens whose head gives the action logits.

    Positions are learned or rotary (``GPTConfig.positional``); it implements the agent contract's incremental decoding
    with a key/value cache.
    """
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model) if cfg.positional == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.n_actions)
        if cfg.positional == "rotary":
            cos, sin = _rotary_tables(cfg.block_size, cfg.d_model // cfg.n_head)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by depth
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=cfg.init_std / math.sqrt(2 * cfg.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=self.cfg.init_std)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.cfg.init_std)

    def num_parameters(self) -> int:
        """The number of parameters (every weight, embeddings included)."""
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, batch_size: int, device=None, dtype=None) -> KVCache:
        """An empty key/value cache for ``batch_size`` rows, on the head's device and dtype unless given."""
        p = self.head.weight
        return KVCache(self.cfg, batch_size, device or p.device, dtype or p.dtype)

    # the agent contract's incremental decoding (agents.models.agent): the state is the key/value cache
    def new_state(self, batch_size: int) -> KVCache:
        """The incremental-decoding state for ``batch_size`` rows: an empty key/value cache."""
        return self.new_cache(batch_size)

    def decode(self, tokens: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        """Logits (b, A) of the token after ``tokens`` (b, t), which continue the rows of the cache ``state``."""
        return self(tokens, state, logits_from=-1)[:, -1], state

    def select_state(self, state: KVCache, rows: torch.Tensor) -> KVCache:
        """A new cache holding rows ``rows`` (b',) of ``state``, at the same position."""
        small = self.new_cache(rows.shape[0], device=state.k.device, dtype=state.k.dtype)
        small.k[:, :, :, : state.pos] = state.k[:, rows, :, : state.pos]  # (layers, b', nh, pos, hs)
        small.v[:, :, :, : state.pos] = state.v[:, rows, :, : state.pos]
        small.pos = state.pos
        return small

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None, logits_from: int = 0) -> torch.Tensor:
        """Action logits (B, T - logits_from, n_actions) for tokens ``idx`` (B, T) of any integer dtype.

        With a cache, ``idx`` continues it.

        ``logits_from`` (0 <= logits_from < T, or negative from the end: -1 = the last position) skips the outputs of
        the earlier positions: the last block computes only their keys and values (no query, MLP or head), which is
        where a small model spends most of its work when only the response positions carry a loss. The logits are
        those of ``forward(idx)[:, logits_from:]`` up to float rounding.
        """
        idx = as_long_tokens(idx)  # e.g. the uint8 tokens of ParityCoTTorchEnv
        B, T = idx.shape
        pos = cache.pos if cache is not None else 0
        if pos + T > self.cfg.block_size:
            raise ValueError(f"context of {pos + T} tokens exceeds block_size {self.cfg.block_size}")
        logits_from = check_logits_from(logits_from, T)
        x = self.tok_emb(idx)  # (B, T, C)
        if self.pos_emb is not None:
            x = x + self.pos_emb.weight[pos : pos + T]
        rotary = (self.rope_cos, self.rope_sin) if self.cfg.positional == "rotary" else None
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, i, cache, rotary, logits_from if i == last else 0)  # (B, T or T - logits_from, C)
        if cache is not None:
            cache.pos = pos + T
        return self.head(self.ln_f(x))  # (B, T - logits_from, n_actions)

    def forward_flops(self, seq_len: int, logits_from: int = 0) -> int:
        """Matmul FLOPs of ``forward`` on one sequence of ``seq_len`` tokens (embeddings and norms left out).

        Per position a full block costs 2 x 12 C^2 (qkv, projection, 4x MLP) and a query 4 C per key it sees; positions
        before ``logits_from`` cost only their key and value (2 x 2 C^2) in the last block. Training is ~3x this.
        """
        c, T, s = self.cfg.d_model, seq_len, logits_from
        attention = lambda first: 2 * c * (T * (T + 1) - first * (first + 1))  # noqa: E731 (QK^T and AV: 4 C x keys
        # seen, summed over queries first .. T - 1, which see t + 1 keys each)
        full = T * 24 * c * c + attention(0)
        last = T * 4 * c * c + (T - s) * 20 * c * c + attention(s) + (T - s) * 2 * c * self.cfg.n_actions
        return (self.cfg.n_layer - 1) * full + last


PRESETS = {
    "gpt2-2x128": {"n_layer": 2, "d_model": 128, "n_head": 4, "positional": "learned"},
    "gpt2-4x256": {"n_layer": 4, "d_model": 256, "n_head": 8, "positional": "learned"},
    "mistral-2x128": {"n_layer": 2, "d_model": 128, "n_head": 4, "positional": "rotary"},
    "mistral-4x256": {"n_layer": 4, "d_model": 256, "n_head": 8, "positional": "rotary"},
}
"""The paper's model sizes (depth 2-8, width 128-256, trained from scratch): GPT-2-style (learned positions) and
Mistral-style (rotary positions; the blocks stay LayerNorm + GELU, for Mistral's own blocks use the hf agent with
model_type mistral). About 0.4M parameters at 2 x 128 and 3.2M at 4 x 256; any field can still be given beside."""


def make_gpt(task, preset: str | None = None, **config) -> GPT:
    """The ``gpt`` agent for ``task``: ``GPTConfig`` fields as keyword arguments over the ``preset`` if given.

    The preset is one of ``PRESETS``; block_size defaults to the task's seq_len; vocab_size and n_actions are the
    task's.
    """
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; the presets are {', '.join(PRESETS)}")
        config = {**PRESETS[preset], **config}
    unknown = sorted(set(config) - set(GPTConfig.__dataclass_fields__) | ({"vocab_size", "n_actions"} & set(config)))
    if unknown:
        allowed = [f for f in GPTConfig.__dataclass_fields__ if f not in ("vocab_size", "n_actions")]
        raise TypeError(f"unexpected keys {unknown}; the gpt agent takes preset, {', '.join(allowed)}")
    config = {"block_size": task.seq_len, **config}
    return GPT(GPTConfig(vocab_size=task.vocab_size, n_actions=task.n_actions, **config))


if __name__ == "__main__":
    torch.manual_seed(0)
    for positional in ("learned", "rotary"):
        model = GPT(GPTConfig(block_size=20, vocab_size=5, n_actions=3, n_layer=2, positional=positional)).eval()
        tokens = torch.randint(0, 5, (3, 20))
        full = model(tokens)
        cache = model.new_cache(3)
        steps = [model(tokens[:, :12], cache)] + [model(tokens[:, t : t + 1], cache) for t in range(12, 20)]
        err = (torch.cat(steps, 1) - full).abs().max().item()
        tail = (model(tokens, logits_from=12) - full[:, 12:]).abs().max().item()
        print(f"{positional}: {model.num_parameters()} parameters, max |diff| vs the full pass: cache {err:.2e}, "
              f"logits_from {tail:.2e}")
