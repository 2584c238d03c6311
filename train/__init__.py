"""echostream.train — simulator, datasets, splits, augmentation, loops, evaluation, experiments."""
