"""What a run of any stage is made of: its config and command line, checkpoints, log, guards and evaluation."""
