"""The generative dialogue model: NLTK preprocessing and a small PyTorch Transformer."""
