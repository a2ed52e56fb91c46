from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "leadflow.accounts"
    label = "accounts"
