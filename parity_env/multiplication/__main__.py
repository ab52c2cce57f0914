"""``python -m parity_env.multiplication``: a 3 x 3 worked example computed by the code (``task.worked_example``)."""

from .task import worked_example

if __name__ == "__main__":
    print(worked_example())
