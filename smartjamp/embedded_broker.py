"""The embedded broker of `make run`: kombu's SQLAlchemy transport on a SQLite file.

The only change is how often an idle worker looks for new messages: kombu's default of one
second makes a demo's emails trickle out one a second. The option cannot be passed as a
transport option, because this transport hands all of those to SQLAlchemy's create_engine.
"""

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport


class Transport(SQLAlchemyTransport):
    polling_interval = 0.1


TRANSPORT_ALIASES.setdefault("embedded", "smartjamp.embedded_broker:Transport")
