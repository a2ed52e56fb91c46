from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "leadflow.users"
    label = "users"
