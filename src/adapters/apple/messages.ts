import { z } from 'zod';

// The check-in and connect messages we act on, as the device sends them
// (../shared/reference/apple/mdm/checkin/*.yaml). Unknown keys are allowed:
// devices add keys with every OS release.

const data = z.instanceof(Uint8Array);
const str = z.string().max(1024);

export const authenticateMessage = z.looseObject({
  MessageType: z.literal('Authenticate'),
  Topic: str,
  UDID: str.min(1),
  SerialNumber: str.optional(),
  Model: str.optional(),
  ModelName: str.optional(),
  ProductName: str.optional(),
  DeviceName: str.optional(),
  OSVersion: str.optional(),
  BuildVersion: str.optional(),
});

export const tokenUpdateMessage = z.looseObject({
  MessageType: z.literal('TokenUpdate'),
  Topic: str,
  UDID: str.min(1),
  Token: data.refine((t) => t.length > 0 && t.length <= 256, 'Token must be 1..256 bytes'),
  PushMagic: str.min(1),
  UnlockToken: data.optional(),
  UserID: str.optional(),
  UserShortName: str.optional(),
  UserLongName: str.optional(),
  NotOnConsole: z.boolean().optional(),
});

export const checkOutMessage = z.looseObject({
  MessageType: z.literal('CheckOut'),
  Topic: str,
  UDID: str.min(1),
  UserID: str.optional(),
});

export const STATUSES = ['Idle', 'Acknowledged', 'Error', 'CommandFormatError', 'NotNow'] as const;

export const connectMessage = z.looseObject({
  Status: z.enum(STATUSES),
  UDID: str.min(1),
  UserID: str.optional(),
  CommandUUID: str.optional(),
  ErrorChain: z
    .array(
      z.looseObject({
        ErrorCode: z.number().int().optional(),
        ErrorDomain: str.optional(),
        LocalizedDescription: str.optional(),
        USEnglishDescription: str.optional(),
      }),
    )
    .optional(),
});
export type ConnectMessage = z.infer<typeof connectMessage>;

export const issues = (e: z.ZodError) => e.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`);
