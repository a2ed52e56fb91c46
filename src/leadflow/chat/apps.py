from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "leadflow.chat"
    label = "chat"
