# moto (the S3 + KMS stand-in) and the init script's boto3, at the version CI tests against (.ci/run).
FROM python:3.12-slim-bookworm
RUN pip install --no-cache-dir 'moto[server]==5.2.5'
