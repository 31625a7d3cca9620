FROM python:3.12-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements.in requirements.lock ./
RUN pip install --no-cache-dir -r requirements.in -c requirements.lock
COPY . .
RUN useradd --create-home mastery && mkdir -p /var/lib/mastery && chown mastery /var/lib/mastery
USER mastery
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000"]
