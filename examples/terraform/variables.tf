variable "region" {
  type    = string
  default = "us-east-1"
}

variable "aws_endpoint" {
  description = "An AWS API emulator's URL (e.g. http://127.0.0.1:5000); empty for AWS itself."
  type        = string
  default     = ""
}

variable "name" {
  description = "Name of the bot: cluster, service, task family, table and parameter path."
  type        = string
  default     = "bot"
}

variable "image" {
  description = "The bot's container image."
  type        = string
}

variable "bot_token" {
  description = "The bot's API token, kept in SSM as a SecureString."
  type        = string
  sensitive   = true
}

variable "desired_count" {
  type    = number
  default = 1
}
