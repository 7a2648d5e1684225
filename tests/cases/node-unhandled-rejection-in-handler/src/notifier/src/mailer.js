const nodemailer = require('nodemailer');
const { renderSubject } = require('./templates');

const transport = nodemailer.createTransport({
  host: process.env.SMTP_HOST,
  port: 1025,
});

// Sends one alert as mail.
//
//
async function sendAlert(alert) {
  const subject = renderSubject(alert);
  await transport.sendMail({ to: 'ops@example.test', subject, text: alert.text });
}

module.exports = { sendAlert };
