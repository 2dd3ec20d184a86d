"""Reservoir computing: echo state networks beside BPTT (seed 004).

A large sparse random recurrent *reservoir* projects the input into a high
dimension; only a linear *readout* learns, in closed form (ridge) or online (RLS).

- :class:`Reservoir` -- leaky-integrator tanh units, sparse ``W`` rescaled to a spectral radius;
- :class:`Ridge`, :class:`RLS` -- readouts;
- :class:`ESN`, :class:`DeepESN`, :class:`ESNClassifier` -- models that ``boucle.save``/``boucle.load``;
- :func:`rmse`, :func:`nrmse`, :func:`rsquare`, :func:`memory_capacity` -- measures;
- data: :mod:`boucle.data.timeseries` (Mackey-Glass, NARMA-10, Lorenz).
"""
from ._echo import StateWarning
from .classify import ESNClassifier
from .esn import ESN, DeepESN
from .measures import memory_capacity, nrmse, rmse, rsquare
from .readout import RLS, Ridge, solve_ridge
from .reservoir import EchoStateWarning, Reservoir, spectral_radius

__all__ = ["Reservoir", "EchoStateWarning", "spectral_radius", "Ridge", "RLS", "solve_ridge", "ESN", "DeepESN",
           "ESNClassifier", "StateWarning", "rmse", "nrmse", "rsquare", "memory_capacity"]
