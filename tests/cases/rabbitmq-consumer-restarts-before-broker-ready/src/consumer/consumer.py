import logging
import os

import pika

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("consumer")

URL = os.environ["AMQP_URL"]


def handle(channel, method, properties, body):
    log.info("order %s", body)
    channel.basic_ack(method.delivery_tag)


def main():
    params = pika.URLParameters(URL)
    return params


if __name__ == "__main__":
    params = main()
    print(f"Connecting to {URL.replace('guest:guest', 'guest:***')}")
    # The connection is opened once; a broker that is still booting
    # raises AMQPConnectionError and the process exits.
    #
    #
    #
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.queue_declare("orders", durable=True)
    channel.basic_consume("orders", handle)
    channel.start_consuming()
