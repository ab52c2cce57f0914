"""The errors the agents raise, at the bottom layer that raises them: a bad agent, and a run whose numbers diverged.

The command line (``agents.cli``) turns ``AgentError`` into exit code 2 (bad input) and ``DivergedError`` into exit
code 1 (the run diverged), each as one line.
"""


class AgentError(ValueError):
    """An agent that cannot be built, loaded or used: names the agent and what was expected."""


class DivergedError(RuntimeError):
    """A run whose loss, gradient, weights or logits stopped being finite; nothing non-finite was saved."""
