"""RL fine-tuning through TorchRL.

An incrementally decoding collection policy, whole-sequence actors, the shipped algorithms, and any TorchRL loss of
your own.

    from agents.rl import FinetuneConfig, finetune
    result = finetune("runs/pre", FinetuneConfig(algo="reinforce"))

Modules, one job each: ``policy`` (any agent as the TorchRL policy that collects), ``episodes`` (collection through
the env's TorchRL step with partial steps, and the episode tensordict every loss reads), ``actor`` (one-pass
whole-sequence actors for TorchRL losses), ``advantages`` (baselines, token means, KL), ``algorithms`` (one module per
shipped algorithm: its loss, prepare step and defaults), ``value`` (a prompt value head for critic-based TorchRL
losses), ``finetune`` (the loop and the CLI).
"""

from .actor import SequenceActor, sequence_actor
from .algorithms import ALGORITHMS, Algorithm, build_algorithm, known_algorithms, register_algorithm
from .episodes import EpisodeCollector, pack_episodes
from .finetune import FinetuneConfig, FinetuneResult, finetune
from .policy import Sampler, collection_policy
from .value import prompt_value_operator

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "EpisodeCollector",
    "FinetuneConfig",
    "FinetuneResult",
    "Sampler",
    "SequenceActor",
    "build_algorithm",
    "collection_policy",
    "finetune",
    "known_algorithms",
    "pack_episodes",
    "prompt_value_operator",
    "register_algorithm",
    "sequence_actor",
]
