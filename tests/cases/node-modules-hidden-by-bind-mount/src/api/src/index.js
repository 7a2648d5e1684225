const express = require('express');

const app = express();
app.get('/health', (req, res) => res.json({ ok: true }));
app.listen(4000, () => console.log('chat api listening on port 4000'));
