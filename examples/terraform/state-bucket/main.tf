# The state bucket (versioned: every state the workspace had stays readable, which is its history)
# and the lock table. Applied once, with the local backend.

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "aws_endpoint" {
  type    = string
  default = ""
}

variable "bucket" {
  type    = string
  default = "bot-tfstate"
}

variable "lock_table" {
  type    = string
  default = "bot-tflock"
}

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 3.39"
    }
  }
}

provider "aws" {
  region                      = var.region
  skip_credentials_validation = var.aws_endpoint != ""
  skip_requesting_account_id  = var.aws_endpoint != ""
  skip_metadata_api_check     = var.aws_endpoint != ""
  skip_get_ec2_platforms      = var.aws_endpoint != ""
  s3_force_path_style         = var.aws_endpoint != ""
  endpoints {
    dynamodb = var.aws_endpoint
    s3       = var.aws_endpoint
    sts      = var.aws_endpoint
  }
}

resource "aws_s3_bucket" "state" {
  bucket = var.bucket
  versioning {
    enabled = true
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_dynamodb_table" "lock" {
  name         = var.lock_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"
  attribute {
    name = "LockID"
    type = "S"
  }
}
