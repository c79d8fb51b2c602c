"""The writer adds the timeline partition to each transaction up front through aiokafka's private
`TransactionManager.maybe_add_partition_to_txn` (processors.writer); this notices if it goes away.

The behaviour itself runs in every integration test of the writer with timelines, over a real broker.
"""

from __future__ import annotations

import inspect

from aiokafka.producer.transaction_manager import TransactionManager


def test_aiokafka_still_has_the_private_join() -> None:
    join = TransactionManager.maybe_add_partition_to_txn
    assert ["self", "tp"] == list(inspect.signature(join).parameters)
    assert "_pending_txn_partitions" in inspect.getsource(join)


def test_the_producer_still_keeps_its_transaction_manager_as_txn_manager() -> None:
    from aiokafka import AIOKafkaProducer

    assert "self._txn_manager" in inspect.getsource(AIOKafkaProducer.__init__)
