import uvicorn
from hr.db import engine

uvicorn.run("hr.api:app", host="0.0.0.0", port=8000)
