"""Router evaluation (`localrouter routellm eval`) and threshold calibration
(`localrouter routellm calibrate`).

data.py loads RouteLLM's benchmark files (MMLU and GSM8K ship in routellm_data/; MT-Bench
comes from download.py or --data), metrics.py computes curves and scores, runner.py gets win
rates (cached), report.py / plot.py write the results, calibrate.py picks thresholds.
"""
