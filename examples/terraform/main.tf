# The bot: an ECS service running one task definition (image, memory, environment), its API token in
# an SSM parameter, and its sessions in a DynamoDB table.

locals {
  memory = 512
  environment = {
    LOG_LEVEL   = "info"
    TOKEN_PARAM = aws_ssm_parameter.bot_token.name
  }
}

resource "aws_vpc" "bot" {
  cidr_block = "10.20.0.0/16"
}

resource "aws_subnet" "bot" {
  vpc_id     = aws_vpc.bot.id
  cidr_block = "10.20.1.0/24"
}

resource "aws_iam_role" "task_execution" {
  name = "${var.name}-task-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
    }]
  })
}

resource "aws_ssm_parameter" "bot_token" {
  name  = "/${var.name}/token"
  type  = "SecureString"
  value = var.bot_token
}

resource "aws_dynamodb_table" "sessions" {
  name         = "${var.name}-sessions"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "session_id"

  attribute {
    name = "session_id"
    type = "S"
  }
}

resource "aws_ecs_cluster" "bot" {
  name = var.name
}

resource "aws_ecs_task_definition" "bot" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = tostring(local.memory)
  execution_role_arn       = aws_iam_role.task_execution.arn

  container_definitions = jsonencode([{
    name        = "bot"
    image       = var.image
    memory      = local.memory
    essential   = true
    environment = [for k, v in local.environment : { name = k, value = v }]
  }])
}

resource "aws_ecs_service" "bot" {
  name            = var.name
  cluster         = aws_ecs_cluster.bot.id
  task_definition = aws_ecs_task_definition.bot.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"

  network_configuration {
    subnets = [aws_subnet.bot.id]
  }
}

output "task_definition" {
  value = aws_ecs_task_definition.bot.arn
}
