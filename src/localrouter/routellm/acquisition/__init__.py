"""Getting the router model onto disk: hub downloads, disk checks, staged installs."""
