"""RL fine-tuning through TorchRL: a KV-cached collection policy, whole-sequence actors, the shipped losses.

    from agents.rl import FinetuneConfig, finetune
    result = finetune("runs/pre", FinetuneConfig(algo="reinforce"))

Modules, one job each: ``policy`` (the cached TorchRL policy that collects), ``episodes`` (collection through
the env's TorchRL step with partial steps, and the episode tensordict every loss reads), ``actor`` (one-pass whole-sequence actors for TorchRL
losses), ``advantages`` (baselines, token means, KL), ``losses`` (the loss modules), ``algorithms`` (loss + prepare
+ schedule per algorithm), ``value`` (a prompt value head for critic-based TorchRL losses), ``finetune`` (the loop
and the CLI).
"""

from .actor import SequenceActor, sequence_actor
from .algorithms import ALGORITHMS, Algorithm, make_algorithm
from .episodes import EpisodeCollector, pack_episodes
from .finetune import FinetuneConfig, FinetuneResult, finetune
from .policy import CachedSampler, collection_policy
from .value import prompt_value_operator

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "CachedSampler",
    "EpisodeCollector",
    "FinetuneConfig",
    "FinetuneResult",
    "SequenceActor",
    "collection_policy",
    "finetune",
    "make_algorithm",
    "pack_episodes",
    "prompt_value_operator",
    "sequence_actor",
]
