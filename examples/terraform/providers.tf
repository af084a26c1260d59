terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 3.39"
    }
  }
  # Partial configuration: bucket, key, region, lock table (and, against an emulator, endpoints) come
  # from `init -backend-config=FILE` (see README.md and moto.s3.tfbackend.example).
  backend "s3" {}
}

provider "aws" {
  region = var.region

  # Against an AWS API emulator (moto's server on 127.0.0.1): every service at one endpoint, no account
  # lookups. skip_get_ec2_platforms matters: without it, plan hangs for minutes.
  skip_credentials_validation = var.aws_endpoint != ""
  skip_requesting_account_id  = var.aws_endpoint != ""
  skip_metadata_api_check     = var.aws_endpoint != ""
  skip_get_ec2_platforms      = var.aws_endpoint != ""
  s3_force_path_style         = var.aws_endpoint != ""

  endpoints {
    dynamodb = var.aws_endpoint
    ec2      = var.aws_endpoint
    ecs      = var.aws_endpoint
    iam      = var.aws_endpoint
    s3       = var.aws_endpoint
    ssm      = var.aws_endpoint
    sts      = var.aws_endpoint
  }
}
