public enum AttacksPlaceholderToRemove {}
