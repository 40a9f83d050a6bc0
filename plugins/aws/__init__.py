"""AWS: CloudWatch metrics and dashboard, report upload to S3."""
