"""boucle — recurrent neural networks from the equations up, on NumPy."""
__version__ = "0.1.0"
