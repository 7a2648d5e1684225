import yaml


def load_jobs(path):
    """Read the job list from a YAML file."""
    # The file is required; there are no default jobs.
    # A missing file is a configuration error.
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["jobs"]
