"""echostream.train — simulator, datasets, splits, augmentation, training loops, evaluation, experiments."""
