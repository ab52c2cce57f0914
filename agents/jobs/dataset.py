"""Data out: demonstrations and a run's episodes as Hugging Face datasets and Minari datasets: ``parity-cot dataset``.

    parity-cot dataset demonstrations --d 4 --p-long 0.5 --n 51200 --out data/d4     # the online stream, as parquet
    parity-cot dataset demonstrations --d 4 --p-long 0.5 --n 4096 --minari parity-cot/parity-d4/demos-v0
    parity-cot dataset episodes runs/rl --n 4096 --out data/rl-episodes               # a run's agent's episodes
    parity-cot pretrain --data data/d4 --out runs/fixed                                # pre-training on a fixed dataset

``demonstrations`` writes the first N rows of the demonstration stream that a pre-training run with the same --seed
and --batch-size draws online (``agents.ntp.data.sample_stream``), so ``pretrain --data DIR`` on it is bit-identical
to the online run for N samples; ``episodes`` re-collects N episodes with the agent of a run's checkpoint (a fine-tuning
run's final policy, or any checkpoint's) through the task's TorchRL env and the fine-tuning collector
(``agents.rl.episodes.EpisodeCollector``), on prompts of its own drawn from --seed, at the run's sampling temperature.

Two outputs, either or both: ``--out DIR``, a local Hugging Face ``datasets`` dataset (parquet, or ``--format
arrow``) with its record (``agents.ntp.data``); ``--minari ID``, a Minari dataset in Minari's local store
(``$MINARI_DATASETS_PATH``, else ~/.minari/datasets) whose episodes are episodes of the task's Gymnasium env
``CoTEnv``: each demonstration (or collected episode) is one episode, its actions the tokens emitted (Discrete), its
observations the env's MultiDiscrete tokens after the reset and after each step, its rewards the env's, and its
problem in the episode's reset options (``env.reset(options={"problem": ...})``); ``dataset.recover_environment()``
rebuilds the env. After writing, every output is read back and checked equal to what was written, and ``--replay``
episodes are replayed in the recovered env (the same observations and rewards, step by step). Nothing is ever
written over: an existing --out that is not empty, or an existing Minari id, is an error before anything is written.

Columns of a dataset of episodes (R = task.max_response_len): tokens (L), problem (k), action (R: the response, PAD
after EOS), response_mask (R), reward, is_correct, is_long, finished, answer_length, action_log_prob,
token_log_prob (R), prompt_id, and prompt / response as text (``agents.rl.episodes`` says what each means).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from parity_env.checks import check_int
from parity_env.contract import CoTTask, response_ends
from parity_env.registry import make_task, task_from_dict

from ..ntp.data import (
    FORMATS,
    Demonstrations,
    _check_out,
    read_dataset,
    read_demonstrations,
    require,
    sample_stream,
    write_dataset,
    write_demonstrations,
)
from ..run.task_options import TaskExpectation

ENV_SPEC_ID = "parity_env/CoTEnv-v0"  # the id of the Minari datasets' env spec (not registered: the spec is enough)
ENV_ENTRY_POINT = "parity_env.envs.env:CoTEnv"

EPISODE_COLUMNS = {
    "tokens": "the prompt, the response, PAD after EOS (task.seq_len int64): the env's last observation",
    "problem": "the problem the prompt poses (the task's problem columns, int64)",
    "action": "the response tokens, PAD after EOS (task.max_response_len int64)",
    "response_mask": "True on emitted tokens, EOS included (task.max_response_len bool)",
    "reward": "the episode's return: the env's rewards summed",
    "is_correct": "the reward mode's verdict",
    "is_long": "more tokens before EOS than the short form has",
    "finished": "the response has an EOS",
    "answer_length": "tokens before EOS",
    "action_log_prob": "the behaviour policy's log-probability of the whole response",
    "token_log_prob": "its log-probability of each emitted token, 0 where masked (task.max_response_len float32)",
    "prompt_id": "equal for equal prompts",
    "prompt": "the prompt as text (task.format_tokens)",
    "response": "the response as text (task.format_tokens)",
}


# --------------------------------------------------------------------------------------------------- options
@dataclass
class Output:
    """Where a dataset goes: a Hugging Face dataset directory, a Minari dataset, or both."""

    out: str | None = None
    """Directory of the Hugging Face dataset to write (new or empty)."""
    format: Literal["parquet", "arrow"] = "parquet"
    """parquet (datasets.load_dataset(DIR) reads it) or arrow (Dataset.save_to_disk; datasets.load_from_disk(DIR))."""
    text: bool = True
    """Also write each row's prompt and response as text (task.format_tokens)."""
    minari: str | None = None
    """Also write a Minari dataset of this id ('namespace/name-v0') in Minari's local store ($MINARI_DATASETS_PATH,
    else ~/.minari/datasets): one episode of the task's Gymnasium env per row."""
    minari_format: Literal["hdf5", "arrow"] = "hdf5"
    """Storage format of the Minari dataset."""
    replay: int = 100
    """Episodes of the Minari dataset replayed in its recovered env to check their observations and rewards (0:
    none)."""

    def __post_init__(self) -> None:
        self.replay = check_int("replay", self.replay, 0)
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {list(FORMATS)}; got {self.format!r}")
        if self.minari_format not in ("hdf5", "arrow"):
            raise ValueError(f"minari_format must be hdf5 or arrow; got {self.minari_format!r}")


@dataclass
class DemonstrationsConfig:
    """``parity-cot dataset demonstrations``'s options."""

    task: CoTTask = field(default_factory=make_task)
    """The task and its settings (parity by default)."""
    n: int = 102_400
    """Demonstrations to write (the default: 400 batches of 256)."""
    seed: int = 0
    """Seed of the sampler: the --seed of the pre-training run whose online data the dataset holds."""
    batch_size: int = 256
    """Rows per draw of the sampler: the --batch-size of the pre-training run whose online data the dataset holds."""
    output: Output = field(default_factory=Output)

    def __post_init__(self) -> None:
        self.task = task_from_dict(self.task)
        self.n = check_int("n", self.n, 1)
        self.seed = check_int("seed", self.seed, 0)
        self.batch_size = check_int("batch_size", self.batch_size, 1)


@dataclass
class EpisodesConfig:
    """``parity-cot dataset episodes``'s options."""

    checkpoint: str = field(metadata={"positional": True, "metavar": "RUN"})
    """A run directory (finetune or pretrain --out) or a checkpoint: its agent collects the episodes."""
    n: int = 4096
    """Episodes to write."""
    temperature: float | None = None
    """Sampling temperature (None: the fine-tuning run's own, 1 for other checkpoints)."""
    seed: int = 0
    """Seed of the prompts and the sampling."""
    batch_size: int = 256
    """Episodes collected together (the env's rows)."""
    device: str = "cpu"
    """torch device of the agent and the env."""
    output: Output = field(default_factory=Output)
    task: TaskExpectation = field(default_factory=TaskExpectation)
    """The task the checkpoint must be of (a check: its own task is used)."""

    def __post_init__(self) -> None:
        from ..models.generate import check_temperature

        self.n = check_int("n", self.n, 1)
        self.seed = check_int("seed", self.seed, 0)
        self.batch_size = check_int("batch_size", self.batch_size, 1)
        if self.temperature is not None:
            self.temperature = check_temperature(self.temperature)
            if not self.temperature > 0:
                raise ValueError(f"--temperature must be > 0 (got {self.temperature})")


# --------------------------------------------------------------------------------------------------- episodes
class _GivenProblems:
    """A TorchRL env whose resets take the problems given: what ``EpisodeCollector`` needs of an env, reset and step.

    The problems come as ``problems``; parity's tuned env reads them as ``bits``.
    """

    def __init__(self, env: Any):
        self.env = env
        self.problems = np.zeros((0, 0), dtype=np.int64)  # (B, k): set before each collection

    def reset(self) -> Any:
        import torch
        from tensordict import TensorDict

        given = torch.from_numpy(self.problems).to(self.env.device)
        return self.env.reset(TensorDict({"problems": given, "bits": given}, batch_size=self.env.batch_size,
                                         device=self.env.device))

    def step(self, td: Any) -> Any:
        return self.env.step(td)


def collect_episodes(agent: Any, task: CoTTask, n: int, temperature: float = 1.0, seed: int = 0,
                     batch_size: int = 256, device: Any = "cpu") -> dict[str, np.ndarray]:
    """``n`` episodes of ``agent`` in ``task``'s TorchRL env, collected as fine-tuning collects them.

    Collected by ``EpisodeCollector``, on problems drawn from ``np.random.default_rng(seed)`` (batches of
    ``batch_size``, a last partial one drawn whole and cut), sampling from ``torch.Generator().manual_seed(seed)``:
    the columns of a dataset of episodes (module docstring) as numpy arrays.
    """
    import torch

    from ..rl.episodes import EpisodeCollector

    n, B = check_int("n", n, 1), min(check_int("batch_size", batch_size, 1), n)
    rng = np.random.default_rng(seed)
    env = _GivenProblems(task.make_env(B, device=device, seed=seed))
    generator = torch.Generator(device=device).manual_seed(seed)
    collector = EpisodeCollector(env, agent, task, temperature, generator)
    keys = ("tokens", "action", "response_mask", "reward", "is_correct", "is_long", "finished", "answer_length",
            "action_log_prob", "token_log_prob", "prompt_id")
    parts: dict[str, list] = {k: [] for k in ("problem", *keys)}
    for start in range(0, n, B):
        keep = min(B, n - start)
        problems = np.asarray(task.sample_problems(B, rng), dtype=np.int64)
        env.problems = problems
        episodes = collector.collect()
        prompts = episodes["prompt"].cpu().numpy()
        if not np.array_equal(prompts, task.prompt_tokens(problems)):
            raise RuntimeError(f"the TorchRL env of {task.describe()} did not start from the problems given at its "
                               "reset (a 'problems' entry)")
        parts["problem"].append(problems[:keep])
        for k in keys:
            value = episodes[k][:keep].cpu()
            parts[k].append(value.reshape(keep) if k == "reward" else value)
    out = {k: np.concatenate([np.asarray(v) for v in vs]) for k, vs in parts.items()}
    out["tokens"] = out["tokens"].astype(np.int64)
    return out


# --------------------------------------------------------------------------------------------------- Minari
def env_spec(task: CoTTask) -> Any:
    """The Gymnasium spec of ``task``'s generic env: what a Minari dataset records to rebuild its env.

    The env is ``CoTEnv(task=task.to_dict())``.
    """
    from gymnasium.envs.registration import EnvSpec

    return EnvSpec(id=ENV_SPEC_ID, entry_point=ENV_ENTRY_POINT, kwargs={"task": task.to_dict()})


def check_minari_id(dataset_id: str) -> None:
    """Refuse a malformed id, or one already in Minari's local store (Minari never overwrites; nor do we)."""
    require("minari", "--minari")
    require("h5py", "--minari")
    from minari.dataset.minari_dataset import parse_dataset_id
    from minari.storage.datasets_root_dir import get_dataset_path

    parse_dataset_id(dataset_id)  # a ValueError naming the form ids take
    path = get_dataset_path(dataset_id)
    if path.exists():
        raise FileExistsError(f"--minari {dataset_id}: a Minari dataset of that id exists ({path}); choose another id "
                              "or remove it (minari delete ID); nothing was written")


def episode_arrays(task: CoTTask, problems: np.ndarray, responses: np.ndarray) -> list[dict]:
    """Each row as an episode of ``CoTEnv``.

    Reset with its problem, then one step per response token up to its EOS (the whole row if it has none:
    truncated). Observations (steps + 1, L) as the env gives them, actions (steps,), rewards, terminations and
    truncations (steps,).
    """
    P, R, L, pad = task.prompt_len, task.max_response_len, task.seq_len, task.pad
    responses = np.asarray(responses, dtype=np.int64)
    finished, end = response_ends(responses, task.eos)
    correct = np.asarray(task.verdicts(problems, responses).correct(task.reward), dtype=bool)
    prompts = task.prompt_tokens(problems)
    out = []
    for i in range(len(responses)):
        steps = int(end[i]) + 1 if finished[i] else R
        obs = np.full((steps + 1, L), pad, dtype=np.int64)
        obs[:, :P] = prompts[i]
        shown = np.arange(R)[None, :] < np.arange(steps + 1)[:, None]  # (steps + 1, R): tokens emitted so far
        obs[:, P:] = np.where(shown, responses[i][None, :], pad)
        rewards = np.zeros(steps)
        rewards[-1] = float(finished[i] and correct[i])
        terminations, truncations = np.zeros(steps, dtype=bool), np.zeros(steps, dtype=bool)
        terminations[-1], truncations[-1] = bool(finished[i]), not finished[i]
        out.append({"observations": obs, "actions": responses[i, :steps].copy(), "rewards": rewards,
                    "terminations": terminations, "truncations": truncations, "problem": problems[i]})
    return out


def write_minari(dataset_id: str, task: CoTTask, problems: np.ndarray, responses: np.ndarray, record: dict,
                 data_format: str = "hdf5") -> Any:
    """A Minari dataset ``dataset_id`` (Minari's local store) of the rows as episodes of ``CoTEnv``.

    The rows are ``responses`` (n, R) to ``problems`` (n, k), written as ``episode_arrays`` gives them; ``record``
    goes in its metadata under "parity_cot".
    """
    check_minari_id(dataset_id)
    import minari
    from minari.data_collector import EpisodeBuffer

    buffers = [EpisodeBuffer(options={"problem": e["problem"]}, observations=e["observations"], actions=e["actions"],
                             rewards=e["rewards"].tolist(), terminations=e["terminations"].tolist(),
                             truncations=e["truncations"].tolist())
               for e in episode_arrays(task, problems, responses)]
    with warnings.catch_warnings():  # Minari asks for an author, an e-mail and a code link; none is ours to give
        warnings.simplefilter("ignore", UserWarning)
        dataset = minari.create_dataset_from_buffers(
            dataset_id, buffers, env=env_spec(task), algorithm_name=record.get("algorithm", record["kind"]),
            description=f"parity-cot {record['kind']} of {task.describe()}: one episode of CoTEnv per row",
            data_format=data_format)
    dataset.storage.update_metadata({"parity_cot": record})
    return dataset


def read_minari(dataset_id: str) -> dict[str, Any]:
    """A Minari dataset written by ``write_minari`` back as arrays.

    The record, problems (n, k), responses (n, R) (the actions, PAD after them), tokens (n, L) (each episode's last
    observation), returns (n,), steps (n,), terminated / truncated (n,), and the episodes themselves (``episodes``:
    Minari's dicts of observations, actions, rewards, terminations, truncations).
    """
    require("minari", "reading a Minari dataset")
    import minari

    dataset = minari.load_dataset(dataset_id)
    meta = dataset.storage.metadata
    record = meta.get("parity_cot")
    if not isinstance(record, dict):
        raise ValueError(f"Minari dataset {dataset_id} was not written by parity-cot (no parity_cot metadata)")
    task = task_from_dict(record["task"])
    n, R = dataset.total_episodes, task.max_response_len
    episodes = list(dataset.storage.get_episodes(range(n)))  # one pass over the storage (iterate_episodes: n)
    options = [m.get("options", {}) for m in dataset.storage.get_episode_metadata(range(n))]
    responses = np.full((n, R), task.pad, dtype=np.int64)
    for i, e in enumerate(episodes):
        responses[i, : len(e["actions"])] = e["actions"]
    return {
        "dataset": dataset, "record": record, "task": task, "episodes": episodes,
        "problems": np.array([o["problem"] for o in options], dtype=np.int64),
        "responses": responses,
        "tokens": np.stack([e["observations"][-1] for e in episodes]).astype(np.int64),
        "returns": np.array([float(np.sum(e["rewards"])) for e in episodes]),
        "steps": np.array([len(e["actions"]) for e in episodes]),
        "terminated": np.array([bool(e["terminations"][-1]) for e in episodes]),
        "truncated": np.array([bool(e["truncations"][-1]) for e in episodes]),
    }


def replay_minari(back: dict[str, Any], k: int) -> int:
    """Replay the first ``k`` episodes of a dataset ``read_minari`` gave in its recovered env (``CoTEnv``).

    Each step's observation, reward, termination and truncation must be the stored ones (else a RuntimeError naming
    the episode and step). Returns the episodes replayed.
    """
    env = back["dataset"].recover_environment()
    k = min(k, len(back["episodes"]))
    for i, e in enumerate(back["episodes"][:k]):
        obs, _ = env.reset(options={"problem": back["problems"][i]})
        if not np.array_equal(obs, e["observations"][0]):
            raise RuntimeError(f"episode {i}: the env's first observation differs from the stored one")
        for t, action in enumerate(e["actions"]):
            obs, reward, terminated, truncated, _ = env.step(int(action))
            got, stored = (obs, reward, terminated, truncated), (e["observations"][t + 1], e["rewards"][t],
                                                                 e["terminations"][t], e["truncations"][t])
            if not (np.array_equal(got[0], stored[0]) and all(a == b for a, b in zip(got[1:], stored[1:]))):
                raise RuntimeError(f"episode {i}, step {t}: the env gives {got[1:]} and its observation; the dataset "
                                   f"holds {stored[1:]}")
    env.close()
    return k


# --------------------------------------------------------------------------------------------------- the two commands
def _check_outputs(output: Output) -> None:
    """Before any work: something to write, and nothing there to write over."""
    from pathlib import Path

    if output.out is None and output.minari is None:
        raise ValueError("give --out DIR (a Hugging Face dataset), --minari ID (a Minari dataset), or both")
    if output.out is not None:
        require("datasets", "--out")
        _check_out(Path(output.out))
    if output.minari is not None:
        check_minari_id(output.minari)


def _write(output: Output, task: CoTTask, columns: dict[str, Any], record: dict, problems: np.ndarray | None,
           responses: np.ndarray, returns: np.ndarray | None, progress: bool) -> list[str]:
    """Write ``columns`` to the outputs, read each back and check it; the lines that say what was done."""
    lines = []
    if output.out is not None:
        written = write_dataset(output.out, columns, record, output.format, progress)
        _, read = read_dataset(output.out)
        for name, value in columns.items():
            if not np.array_equal(np.asarray(value), read[name]):
                raise RuntimeError(f"{output.out}: column {name} read back differs from what was written")
        lines.append(f"wrote {output.out}: {written['rows']:,} rows ({output.format}; columns "
                     f"{', '.join(columns)}); read back equal")
    if output.minari is not None:
        if problems is None:
            raise ValueError(f"--minari: the problems of {task.describe()}'s demonstrations cannot be recovered (its "
                             "sampler does not draw them first, as the contract's does); episodes need them")
        write_minari(output.minari, task, problems, responses, record, output.minari_format)
        back = read_minari(output.minari)
        tokens = np.asarray(columns["tokens"])
        same = (np.array_equal(back["problems"], problems) and np.array_equal(back["responses"], responses)
                and np.array_equal(back["tokens"], tokens))  # each episode's last observation is the row's tokens
        if returns is not None:
            same = same and np.array_equal(back["returns"], np.asarray(returns, dtype=float))
        if not same:
            raise RuntimeError(f"Minari dataset {output.minari}: its episodes read back differ from the rows written")
        replayed = replay_minari(back, output.replay)
        lines.append(f"wrote Minari dataset {output.minari} ({back['dataset'].storage.data_path}): {len(responses):,} "
                     f"episodes, {int(back['steps'].sum()):,} steps ({output.minari_format}); read back equal, "
                     f"{replayed} replayed in CoTEnv with the same observations and rewards")
    return lines


def demonstrations(cfg: DemonstrationsConfig, progress: bool = False) -> list[str]:
    """``parity-cot dataset demonstrations``: the stream's first n rows, written and checked."""
    _check_outputs(cfg.output)
    demos: Demonstrations = sample_stream(cfg.task, cfg.n, cfg.seed, cfg.batch_size)
    lines = []
    if cfg.output.out is not None:
        write_demonstrations(cfg.output.out, demos, cfg.output.format, cfg.output.text, progress)
        back = read_demonstrations(cfg.output.out)
        for name in ("tokens", "response_mask", "is_long", "problems"):
            a, b = getattr(demos, name), getattr(back, name)
            if not (a is None and b is None or a is not None and b is not None and np.array_equal(a, b)):
                raise RuntimeError(f"{cfg.output.out}: {name} read back differs from what was written")
        lines.append(f"wrote {cfg.output.out}: {len(demos):,} demonstrations of {cfg.task.describe()} "
                     f"({cfg.output.format}); read back equal (sha256 {back.sha256()[:12]})")
    if cfg.output.minari is not None:
        record = {"kind": "demonstrations", "task": cfg.task.to_dict(), **demos.record,
                  "algorithm": "the demonstrations of the mixture (task.sample_demonstrations)"}
        minari_only = Output(minari=cfg.output.minari, minari_format=cfg.output.minari_format,
                             replay=cfg.output.replay)
        lines += _write(minari_only, cfg.task, {"tokens": demos.tokens}, record, demos.problems,
                        demos.tokens[:, cfg.task.prompt_len:], None, progress)
    return lines


def episodes(cfg: EpisodesConfig, progress: bool = False) -> list[str]:
    """``parity-cot dataset episodes``: n episodes of the run's agent, written and checked."""
    from ..models.registry import agent_spec
    from ..run.checkpoint import load_checkpoint
    from ..run.training import resolve_device

    _check_outputs(cfg.output)
    device = resolve_device(cfg.device)
    ckpt = load_checkpoint(cfg.checkpoint, device=device)
    task = ckpt.task
    cfg.task.check(task, f"checkpoint {ckpt.path}")
    run = ckpt.meta.get("finetune") or {}
    temperature = cfg.temperature if cfg.temperature is not None else float(run.get("temperature", 1.0))
    columns: dict[str, Any] = collect_episodes(ckpt.agent, task, cfg.n, temperature, cfg.seed, cfg.batch_size, device)
    if cfg.output.text:
        columns["prompt"] = [task.format_tokens(row) for row in columns["tokens"][:, : task.prompt_len]]
        columns["response"] = [task.format_tokens(row) for row in columns["action"]]
    state = ckpt.meta.get("finetune_state") or ckpt.meta.get("training_state") or {}
    record = {
        "kind": "episodes", "task": task.to_dict(), "checkpoint": str(ckpt.path),
        "agent": agent_spec(ckpt.agent).to_dict(), "run_state": state, "temperature": temperature, "seed": cfg.seed,
        "batch_size": cfg.batch_size,
        "order": f"episodes collected {min(cfg.batch_size, cfg.n)} at a time by agents.rl.episodes.EpisodeCollector "
                 f"in the task's TorchRL env, on problems from np.random.default_rng({cfg.seed}) (task.sample_problems,"
                 f" batch after batch), sampling from torch.Generator().manual_seed({cfg.seed})",
        "algorithm": f"agent {agent_spec(ckpt.agent).name} of {ckpt.path} at temperature {temperature}",
        "columns": {k: v for k, v in EPISODE_COLUMNS.items() if k in columns},
    }
    lines = _write(cfg.output, task, columns, record, columns["problem"], columns["action"], columns["reward"],
                   progress)
    return [f"{cfg.n:,} episodes of {ckpt.path} (temperature {temperature}): mean reward "
            f"{float(np.mean(columns['reward'])):.4f}, long fraction {float(np.mean(columns['is_long'])):.4f}", *lines]


# --------------------------------------------------------------------------------------------------- command line
COMMANDS: dict[str, tuple[type, Any, str]] = {
    "demonstrations": (DemonstrationsConfig, demonstrations,
                       "the demonstration mixture (the online pre-training stream's first N rows)"),
    "episodes": (EpisodesConfig, episodes, "episodes of a run's agent, collected as fine-tuning collects them"),
}


def add_arguments(parser) -> None:
    """The ``parity-cot dataset`` flags on ``parser``: one subcommand per kind of dataset, with its config's flags."""
    import argparse

    from ..run.config import add_config_arguments

    parser.epilog = ("Writes a Hugging Face dataset (--out DIR) and/or a Minari dataset (--minari ID), reads each back "
                     "and checks it; pretrain --data DIR trains on a dataset of demonstrations.")
    sub = parser.add_subparsers(dest="what", metavar="{" + ",".join(COMMANDS) + "}", required=True)
    for name, (cls, _, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_config_arguments(p, cls)
        p.add_argument("--no-progress", dest="progress", action="store_false", default=argparse.SUPPRESS,
                       help="no progress bars")


def main(args) -> int:
    """Run ``parity-cot dataset`` with the parsed ``args``, printing its report line by line; returns the exit code."""
    from ..run.config import config_from_args

    given = dict(vars(args))
    cls, run, _ = COMMANDS[given.pop("what")]
    cfg = config_from_args(cls, given)
    for line in run(cfg, progress=bool(given.get("progress"))):
        print(line)
    return 0
