"""ANN -> SNN conversion (numpy) and readers of ANN files (torch modules, int8 TFLite)."""
