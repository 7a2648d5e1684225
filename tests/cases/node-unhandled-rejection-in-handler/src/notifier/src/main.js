const { EventEmitter } = require('events');
const { sendAlert } = require('./mailer');

const bus = new EventEmitter();
console.log('notifier listening for alert events');

bus.on('alert', async (alert) => {
  // An alert of a kind without a template has no subject.
  await sendAlert(alert);
});

module.exports = { bus };
