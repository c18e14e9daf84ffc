"""The ML basics: the model, training, sampling, data, evaluation and statistics; training a generation
(`fitting`) and self-labelling a round (`self_label`), which more than one stage uses."""
