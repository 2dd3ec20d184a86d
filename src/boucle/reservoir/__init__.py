"""Reservoir computing: echo state networks beside BPTT (seed 004).

A large sparse random recurrent *reservoir* projects the input into a high
dimension; only a linear *readout* learns, in closed form (ridge) or online (RLS).

- :class:`Reservoir` -- leaky-integrator tanh units, sparse ``W`` rescaled to a spectral radius;
- :class:`LIFReservoir` -- a liquid of leaky integrate-and-fire neurons (Maass et al. 2002);
- :class:`Ridge`, :class:`RLS` -- readouts;
- :class:`ESN` (optionally with output feedback), :class:`DeepESN`, :class:`ESNClassifier`,
  :class:`LSM`, :class:`LSMClassifier` -- models that ``boucle.save``/``boucle.load``;
- :class:`IntrinsicPlasticity` -- unsupervised adaptation of the units' gains and biases;
- :func:`rmse`, :func:`nrmse`, :func:`rsquare`, :func:`memory_capacity`, :func:`forecast_horizon` -- measures;
- :func:`plot_raster`, :func:`plot_membrane` -- spiking liquids, drawn (matplotlib);
- data: :mod:`boucle.data.tasks.timeseries` (Mackey-Glass, NARMA-10, Lorenz).
"""

from ._echo import StateWarning
from .classify import ESNClassifier, SequenceClassifier
from .esn import ESN, DeepESN
from .lsm import LSM, LSMClassifier
from .measures import forecast_horizon, memory_capacity, nrmse, rmse, rsquare
from .plasticity import IntrinsicPlasticity, output_kl
from .plots import plot_membrane, plot_raster
from .readout import RLS, Ridge, solve_ridge
from .reservoir import EchoStateWarning, Reservoir, spectral_radius
from .spiking import LIFReservoir, SpikeRecord

__all__ = [
    "Reservoir",
    "EchoStateWarning",
    "spectral_radius",
    "Ridge",
    "RLS",
    "solve_ridge",
    "ESN",
    "DeepESN",
    "ESNClassifier",
    "SequenceClassifier",
    "StateWarning",
    "LIFReservoir",
    "SpikeRecord",
    "LSM",
    "LSMClassifier",
    "IntrinsicPlasticity",
    "output_kl",
    "plot_raster",
    "plot_membrane",
    "rmse",
    "nrmse",
    "rsquare",
    "memory_capacity",
    "forecast_horizon",
]
