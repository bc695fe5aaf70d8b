// Every criterion Gatehouse knows, in one list.

import { accept } from './accept.js'
import { authenticatedUser } from './authenticated-user.js'
import { claim } from './claim.js'
import { corsPreflight } from './cors-preflight.js'
import type { CriterionDefinition } from './criterion.js'
import { date } from './date.js'
import { dayOfWeek } from './day-of-week.js'
import { domain } from './domain.js'
import { email } from './email.js'
import { groups } from './groups.js'
import { httpMethod } from './http-method.js'
import { httpPath } from './http-path.js'
import { reject } from './reject.js'
import { sourceIp } from './source-ip.js'
import { timeOfDay } from './time-of-day.js'
import { user } from './user.js'

export const CRITERIA: readonly CriterionDefinition[] = [
  accept,
  reject,
  authenticatedUser,
  email,
  domain,
  user,
  groups,
  claim,
  httpMethod,
  httpPath,
  sourceIp,
  corsPreflight,
  date,
  dayOfWeek,
  timeOfDay,
]

export const CRITERIA_BY_NAME: ReadonlyMap<string, CriterionDefinition> = new Map(CRITERIA.map((c) => [c.name, c]))

export type { CriterionDefinition } from './criterion.js'
