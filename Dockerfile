FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN useradd --create-home --uid 1000 portal

COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY portal portal
RUN pip install --no-cache-dir --constraint requirements/constraints.txt .

COPY manage.py ./
COPY templates templates
COPY static static
# collectstatic needs production settings to load (for the hashed, compressed file names),
# not real secrets: these placeholder values never leave this build step.
RUN SECRET_KEY=collectstatic-only FIELD_ENCRYPTION_KEY=unused ALLOWED_HOSTS=build \
    DATABASE_URL=sqlite:////tmp/unused.sqlite3 REDIS_URL=redis://unused:6379/0 \
    python manage.py collectstatic --noinput

USER portal
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
