# Lixiao 实例配置示例 / example instance configuration.
#
# 复制为 instance/config.py 后按需取消注释（该文件不入库）。
# Copy to instance/config.py and uncomment what you need (config.py is git-ignored).
# 优先级 / precedence: app defaults -> instance/config.py -> environment
#   (DATABASE_URL, SECRET_KEY, REDIS_URL, MAIL_SERVER, MAIL_PORT, MAIL_DEFAULT_SENDER, LIXIAO_<KEY>).

# --- 密钥 / secret key -------------------------------------------------------
# 生产环境必须设置；生成方法 / generate with:
#   python -c 'import secrets; print(secrets.token_hex(32))'
# SECRET_KEY = "change-me-to-a-long-random-string"

# --- 数据库 / database ------------------------------------------------------
# 默认：instance/lixiao.sqlite（开发、演示用）。
# Default when unset: SQLite at instance/lixiao.sqlite (development / demo).
# SQLALCHEMY_DATABASE_URI = "sqlite:////srv/lixiao/instance/lixiao.sqlite"
#
# 生产建议 PostgreSQL（psycopg 3 驱动）/ PostgreSQL recommended in production:
# SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://lixiao@127.0.0.1:5432/lixiao"
# SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 10, "pool_pre_ping": True}

# --- 登录限流存储 / rate-limit storage --------------------------------------
# 默认 memory://（每个进程各自计数）；多进程 gunicorn 请用 Redis。
# Default memory:// counts per process; use Redis with several gunicorn workers.
# RATELIMIT_STORAGE_URI = "redis://127.0.0.1:6379/0"
# LOGIN_RATE_LIMIT = "10 per minute;100 per hour"

# --- 邮件 / mail --------------------------------------------------------------
# 不设置 MAIL_SERVER 则不发邮件 / no mail is sent while MAIL_SERVER is unset.
# MAIL_SERVER = "smtp.example.edu.cn"
# MAIL_PORT = 25
# MAIL_DEFAULT_SENDER = "lixiao@example.edu.cn"

# --- 学校信息 / school --------------------------------------------------------
# SCHOOL_NAME = "示例大学"
# SCHOOL_NAME_EN = "Example University"

# --- 语言与时区 / language and time zone --------------------------------------
# BABEL_DEFAULT_LOCALE = "zh_CN"
# BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"

# --- HTTPS 部署 / behind HTTPS ------------------------------------------------
# SESSION_COOKIE_SECURE = True
# PREFERRED_URL_SCHEME = "https"
