"""The echo simulator: anatomy of 8 views, ultrasound image formation, vendor screens, datasets."""
