"""The model trainer's side: hard samples, training and scoring, valuers, ranking, the report."""
