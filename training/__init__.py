"""Offline MNIST training: data, preprocessing, models, loop and artifacts shared with the server."""
