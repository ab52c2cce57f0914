"""Jobs that combine the stages: the main job (reproduce), the sweep on Ray, and the plots of runs and sweeps."""
