const TEMPLATES = {
  disk: { subject: 'Disk almost full on {{host}}' },
  cpu: { subject: 'CPU saturated on {{host}}' },
};

// Renders the subject line of an alert from its kind's template.
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
function renderSubject(alert) {
  const template = TEMPLATES[alert.kind];
  return template.subject.replace('{{host}}', alert.host);
}

module.exports = { renderSubject };
