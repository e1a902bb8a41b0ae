"""Router evaluation (`localrouter routellm eval`) and threshold calibration
(`localrouter routellm calibrate`).

data.py loads RouteLLM's benchmark files, metrics.py computes curves and scores, runner.py
gets win rates (cached), report.py / plot.py write the results, calibrate.py picks thresholds.
"""
