"""The update orders a config may name are the ones the step can run."""

from engine import config
from engine.step import update_orders


def test_config_names_exactly_the_orders_the_step_runs():
    assert tuple(update_orders.UPDATE_ORDERS) == config.UPDATE_ORDERS
