import os

from scheduler.config import load_jobs

if __name__ == "__main__":
    jobs = load_jobs(os.environ.get("SCHEDULER_CONFIG", "config/jobs.yml"))
    print(f"loaded {len(jobs)} jobs")
